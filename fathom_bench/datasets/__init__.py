"""Datasets: files -> per-task arrays -> windows and splits -> LightningDataModule batches."""

from .spec import DatasetSpec, RawDataset, TaskSeries, dataset_names, load_dataset_spec

__all__ = ["DatasetSpec", "RawDataset", "TaskSeries", "dataset_names", "load_dataset_spec"]
