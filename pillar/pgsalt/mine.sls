# The formula picks each member's address from the mine (within the cluster's network).
mine_functions:
  network.ip_addrs: []
