"""`python -m reliability`: see reliability/suite.py."""

from reliability.suite import main

main()
