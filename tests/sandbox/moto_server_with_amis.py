"""moto_server with the vendor images of $MOTO_AMIS_PATH in every region.

moto 5 turns each image's `creation_date` into a datetime in its module-wide
list while it loads the first region, and then fails to load any second
region (a 500 on every call there). Each region gets a fresh copy here.
"""
import copy
import sys

from moto.ec2.models import amis

_load = amis.AmiBackend._load_amis


def _load_fresh(self):
    pristine = copy.deepcopy(amis.AMIS)
    try:
        _load(self)
    finally:
        amis.AMIS[:] = pristine


amis.AmiBackend._load_amis = _load_fresh

from moto.server import main  # noqa: E402  (after the patch, as moto reads the file at import)

main(sys.argv[1:])
