"""gan-bench: a benchmark and evaluation harness for GAN variants on MNIST.

From Python (docs/api.md): `bench.load_runs(path)` gives the run records as a pandas
DataFrame, `bench.summarize(df)` the report's statistics over seeds, `bench.run(...)` trains
as `gan-bench run` does. They are imported on first use, so `import bench` stays light."""

__version__ = "0.1.0"

API = ("load_runs", "summarize", "run")
__all__ = ["__version__", *API]


def __getattr__(name):
    if name in API:
        from bench import api

        return getattr(api, name)
    raise AttributeError(f"module 'bench' has no attribute {name!r}")
