"""Model-side training: student construction, distillation losses and loop, the Trainer wrapper for task
heads. The data side (reading training files, features per task family) lives with the tasks in bench/."""
