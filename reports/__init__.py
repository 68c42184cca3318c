"""Trade-off reports: Pareto frontier of accuracy vs throughput, tables and plots."""
