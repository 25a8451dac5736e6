"""Allow `python -m scimgate`."""

from scimgate.cli import main

main()
