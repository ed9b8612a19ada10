"""The public site and the editors' pages, server-rendered from the same views as the API."""
