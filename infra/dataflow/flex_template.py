"""Entry point of babelshard's Dataflow Flex Template.

Dataflow's launcher runs this file with the template's parameters (``--config=gs://...``)
and the job's pipeline options (project, region, temp_location, sdk_container_image, ...);
it runs ``babelshard build CONFIG OPTIONS`` on the DataflowRunner.
"""
from __future__ import annotations

import sys


def build_arguments(argv: list[str]) -> list[str]:
    """``--config X`` or ``--config=X`` and Beam options -> ``build X --runner=DataflowRunner OPTIONS``."""
    config, options = None, []
    arguments = iter(argv)
    for argument in arguments:
        if argument == "--config":
            config = next(arguments, None)
        elif argument.startswith("--config="):
            config = argument.split("=", 1)[1]
        else:
            options.append(argument)
    if not config:
        raise SystemExit("error: the template needs its `config` parameter (gs:// URL of a job config YAML)")
    if not any(option == "--runner" or option.startswith("--runner=") for option in options):
        options.insert(0, "--runner=DataflowRunner")
    return ["build", config, *options]


if __name__ == "__main__":
    from babelshard.cli import app

    app(args=build_arguments(sys.argv[1:]), prog_name="babelshard")
