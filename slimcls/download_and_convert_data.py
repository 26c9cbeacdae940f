"""`python -m slimcls.download_and_convert_data`: runs its :mod:`slimcls.cli` module."""

if __name__ == "__main__":
    from slimcls.cli.download_and_convert_data import main

    main()
