# A second cluster on a further host, with its own scope, using the demo cluster's etcd.
# It has one db member and stays empty until a host named pg5 joins the bed. Its backups
# go to a posix repository: a path on the db hosts (one here; with several, a filesystem
# they all mount).
pgsalt:
  clusters:
    second:
      network: 10.77.0.0/24
      members:
        pg5: {roles: [db, balancer]}
      dcs:
        cluster: demo
      users:
        superuser: {password: second-superuser-N6rW2tHv}
        replication: {password: second-replication-B9cL4mQx}
        rewind: {password: second-rewind-F7jS3dKp}
        pgbouncer_auth: {password: second-pgbouncer-Z2gV8nYt}
        rest_api: {password: second-rest-api-Qx4mT7vLp2}
        haproxy_stats: {password: second-haproxy-stats-Hn3wK8cZ}
      roles:
        shop: {password: second-shop-password-R5hM9wEc}
      databases:
        shop: {owner: shop}
      pgbackrest:
        enabled: true
        repository: {type: posix, path: /var/lib/pgbackrest-posix}
