() => {
  const problems = [];
  if (!document.documentElement.lang) problems.push('no lang');
  if (!document.title) problems.push('no title');
  if (!document.querySelector('meta[name=description]')) problems.push('no description');
  if (document.querySelectorAll('h1').length !== 1) problems.push('not one h1');
  for (const el of document.querySelectorAll('input:not([type=hidden]), select, textarea')) {
    const labelled = el.closest('label') || (el.id && document.querySelector(`label[for="${el.id}"]`))
      || el.getAttribute('aria-label');
    if (!labelled) problems.push('unlabelled ' + el.name);
  }
  for (const el of document.querySelectorAll('img')) if (!el.alt) problems.push('img without alt');
  for (const el of document.querySelectorAll('svg[role=img]')) if (!el.querySelector('title')) problems.push('svg without title');
  for (const el of document.querySelectorAll('a, button')) if (!el.textContent.trim() && !el.getAttribute('aria-label')) problems.push('empty control');
  const ids = [...document.querySelectorAll('[id]')].map(e => e.id);
  if (new Set(ids).size !== ids.length) problems.push('duplicate ids');
  return problems;
}
