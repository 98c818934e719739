"""FATHOM, its ablations, the suite's base LightningModule and shared per-task layers."""
