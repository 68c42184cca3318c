"""The commands behind `bench` (bench.cli): one module per subcommand that runs something (run, evaluate, sweep,
finetune, distill, regress), plus the terminal tables they print. No command imports another (import-linter)."""
