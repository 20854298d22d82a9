"""The benchmark: dashboard refreshes with recording rules against raw series (`make bench`)."""
