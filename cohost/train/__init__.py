"""Training the twin: a LoRA on `cohost dataset` JSON lines (SFT), then preferences (DPO).

Needs the `train` extra (torch, transformers, peft, trl, datasets); they are imported only when
a run starts, so the CLI and these modules load without them.
"""
