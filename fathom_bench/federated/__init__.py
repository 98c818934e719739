"""Federated FATHOM: Algorithm 1 of the paper with each task's data on its own node.

- `parts`: a FATHOM cut into node parts and a central part (views of one model, no copy of it);
- `transport`: in-process queues (tests) or torch.distributed (gloo; NCCL with a GPU everywhere);
- `session` (nodes) and `central` (rank 0): the training loop over the transport;
- `launch`: one process per node plus the central one, for `train` / `reproduce --federated`.
"""
