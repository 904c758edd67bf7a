"""Job assembly, the top floor under the CLI: the job config, the build, translate and vocab jobs, run summaries."""
