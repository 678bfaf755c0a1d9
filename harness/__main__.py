"""``python -m ebmbench``: the command line, also as torchrun's entry (``torchrun ... -m ebmbench run ...``)."""

from ebmbench.cli import main

if __name__ == "__main__":
    main(prog_name="ebmbench")
