"""The dask engine: training and scoring on a dask.distributed cluster, for data past one machine."""
