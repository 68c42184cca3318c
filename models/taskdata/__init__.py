"""The data floor: XTREME's task files and the English training text, read without any model.

- `readers`: the task-file readers (XTREME's layouts and the published formats) and the hub loader;
- `scored_text`: the one table of which task scores which text (contamination checks ask it);
- `calibration_sources`: the text static quantisation may calibrate on;
- `distillation_text`: the text a student may learn from.

It sits below export (calibration reads here) and below the tasks in bench (which add tokenisation, heads and
metrics on top of these readers), and imports nothing of the floors above or of the model side of `models`."""
