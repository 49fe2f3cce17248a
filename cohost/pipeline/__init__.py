"""The stages of a turn: pick, recall, simulate, fuse, guard, deliver."""
