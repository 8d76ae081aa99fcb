"""`python -m cutpro_async` runs the `cutpro` command."""

from .cli import main

main()
