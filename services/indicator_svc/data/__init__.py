"""Bundled framework templates."""

from importlib.resources import files

from services.indicator_svc.framework.codecs import from_yaml
from services.indicator_svc.framework.content import FrameworkContent


def load_city_framework() -> FrameworkContent:
    """The bundled city-level framework template."""
    return from_yaml(files(__package__).joinpath("city_framework.yaml").read_bytes())
