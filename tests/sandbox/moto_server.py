"""moto_server, with what the tests need of EC2 that moto 5 lacks.

- Vendor images: $MOTO_AMIS_PATH replaces moto's images (moto's own
  setting); $MOTO_EXTRA_AMIS_PATH adds images to moto's defaults (the sandbox
  seeds the real tree's base image ids this way). Either file's entries may
  carry `deprecation_time` (ISO 8601).
- moto 5 turns each image's `creation_date` into a datetime in its
  module-wide list while it loads the first region, and then fails to load
  any second region (a 500 on every call there). Each region gets a fresh
  copy here.
- Image deprecation, as EC2 documents it for DescribeImages: an image whose
  deprecation time has passed is left out unless `IncludeDeprecated` is true
  or the caller owns it; `DeprecationTime` is in the answer;
  EnableImageDeprecation / DisableImageDeprecation set and clear it.
- The account's block public access for images (GetImageBlockPublicAccessState,
  EnableImageBlockPublicAccess, DisableImageBlockPublicAccess), per region,
  `unblocked` at first as on a new account.
"""
import copy
import datetime
import json
import os
import sys

from moto.core.responses import ActionResult
from moto.ec2.models import amis
from moto.ec2.responses import EC2Response
from moto.ec2.responses.amis import AmisResponse

_load = amis.AmiBackend._load_amis
_extra = []
if os.environ.get("MOTO_EXTRA_AMIS_PATH"):
    with open(os.environ["MOTO_EXTRA_AMIS_PATH"]) as f:
        _extra = json.load(f)


def _parse_time(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


def _load_fresh(self):
    pristine = copy.deepcopy(amis.AMIS)
    deprecations = {a["ami_id"]: a.pop("deprecation_time") for a in amis.AMIS if "deprecation_time" in a}
    extra = copy.deepcopy(_extra)
    for a in extra:
        if "deprecation_time" in a:
            deprecations[a["ami_id"]] = a.pop("deprecation_time")
    try:
        amis.AMIS.extend(extra)
        _load(self)
    finally:
        amis.AMIS[:] = pristine
    for ami_id, when in deprecations.items():
        if ami_id in self.amis:
            self.amis[ami_id].deprecation_time = when


amis.AmiBackend._load_amis = _load_fresh


def _deprecated(ami):
    when = getattr(ami, "deprecation_time", None)
    return when is not None and _parse_time(when) <= datetime.datetime.now(datetime.timezone.utc)


_describe_images = AmisResponse.describe_images


def describe_images(self):
    result = _describe_images(self)
    include = str(self._get_param("IncludeDeprecated", "false")).lower() == "true"
    own = self.ec2_backend.account_id
    images = [i for i in result.result["Images"] if include or i.owner_id == own or not _deprecated(i)]
    return ActionResult({"Images": images})


def enable_image_deprecation(self):
    image = self.ec2_backend.describe_images(ami_ids=[self._get_param("ImageId")])[0]
    when = self._get_param("DeprecateAt")
    if isinstance(when, datetime.datetime):
        # As EC2 answers it: ISO 8601, UTC, milliseconds.
        if when.tzinfo is None:
            when = when.replace(tzinfo=datetime.timezone.utc)
        when = when.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    image.deprecation_time = when
    return ActionResult({"Return": True})


def disable_image_deprecation(self):
    image = self.ec2_backend.describe_images(ami_ids=[self._get_param("ImageId")])[0]
    image.deprecation_time = None
    return ActionResult({"Return": True})


_block_state = {}


def _block_key(self):
    return (self.ec2_backend.account_id, self.region)


def get_image_block_public_access_state(self):
    return ActionResult({"ImageBlockPublicAccessState": _block_state.get(_block_key(self), "unblocked"), "ManagedBy": "account"})


def enable_image_block_public_access(self):
    state = self._get_param("ImageBlockPublicAccessState")
    _block_state[_block_key(self)] = state
    return ActionResult({"ImageBlockPublicAccessState": state})


def disable_image_block_public_access(self):
    _block_state[_block_key(self)] = "unblocked"
    return ActionResult({"ImageBlockPublicAccessState": "unblocked"})


for _f in [
    describe_images,
    enable_image_deprecation,
    disable_image_deprecation,
    get_image_block_public_access_state,
    enable_image_block_public_access,
    disable_image_block_public_access,
]:
    setattr(EC2Response, _f.__name__, _f)

from moto.server import main  # noqa: E402  (after the patches, as moto reads the files at import)

main(sys.argv[1:])
