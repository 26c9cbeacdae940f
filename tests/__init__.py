"""slimcls's tests, in sub-folders that mirror the packages.

Every folder is a package, so pytest (default import mode) names each test module by its path
(``tests.nets.test_nets_resnet``): two files with one basename in two folders cannot clash, and
``tests/`` itself never goes on ``sys.path`` (its ``datasets/``/``nets/`` folders would shadow
the real packages). Shared helpers are imported from the repository root:
``from tests.helpers import ...``; no test module imports another test module.
"""
