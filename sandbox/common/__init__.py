"""What every sandbox shares: the command line, the ready line, the clock it follows."""
