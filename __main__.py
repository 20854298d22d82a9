"""vega-observability: the observability stack of Vega 2.0, per stack config."""

import pulumi

from components.settings import ConfigError, from_pulumi
from components.stack import ObservabilityStack

try:
    settings = from_pulumi()
    stack = ObservabilityStack("vega", settings)
except ConfigError as error:
    # Settings and every config file are checked before the first resource is declared:
    # one readable message, and nothing has changed.
    raise pulumi.RunError(str(error)) from None

pulumi.export("platform", settings.platform)
pulumi.export("urls", stack.urls)
