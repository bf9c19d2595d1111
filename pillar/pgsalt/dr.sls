# A standby cluster (disaster-recovery copy) of the demo cluster on a further host, with its
# own scope ("dr") in the demo cluster's etcd. Its leader streams from the demo's read-write
# endpoint (the VIP's HAProxy port 5000); it takes the demo's users, roles and databases, so
# it sets none. It stays empty until a host named pg6 (10.77.0.16) joins the bed and
# orch.deploy runs for it; orch.promote_standby makes it a cluster of its own.
pgsalt:
  clusters:
    dr:
      network: 10.77.0.0/24
      members:
        pg6: {roles: [db, balancer]}
      dcs:
        cluster: demo
      standby:
        cluster: demo
