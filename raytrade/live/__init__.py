"""Long-lived logic as plain classes (collectors, gap filling, paper trading): no Ray here."""
