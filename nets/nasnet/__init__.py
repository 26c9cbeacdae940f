"""NASNet-A and PNASNet-5 with TF-Slim's module layout and variable names.

``nasnet.build_nasnet_{cifar,mobile,large}``, ``pnasnet.build_pnasnet_{mobile,large}``,
their ``*_arg_scope`` functions and ``nasnet_utils``, as in TF-Slim's ``nets.nasnet``.
"""
