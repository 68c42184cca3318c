"""How fast: the timing harness (warm-up, iterations, intervals), a timing grid point in its own process, batching
policies over a task's real inputs, and the sweep's timing rounds with the ratios read from them."""
