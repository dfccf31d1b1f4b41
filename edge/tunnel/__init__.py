"""The tier-to-tier contract: the tunnel wire protocol (sans-I/O, standard library only) and the
error tree whose codes travel over it. The connector imports this package; it imports nothing else."""
