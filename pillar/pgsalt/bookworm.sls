# The same cluster shape on Debian 12 hosts (pg11..pg13, and pg14 the repository host), to
# prove the formula on both releases. The hosts join the bed only when a test adds them
# (tb add pg11 --os debian-12). Its certificates come from a CA of the operator's own
# (tls:own_ca), which the bed makes on the master (tests/testbed/bed/master.py).
pgsalt:
  clusters:
    bookworm:
      network: 10.77.0.0/24
      tls:
        own_ca:
          cert: /var/lib/pgsalt-bed/master/etc/salt/own-ca/ca.crt
          key: /var/lib/pgsalt-bed/master/etc/salt/own-ca/ca.key
      members:
        pg11: {roles: [dcs, db, balancer]}
        pg12: {roles: [dcs, db, balancer]}
        pg13: {roles: [dcs, db, balancer]}
        pg14: {roles: [backup, monitor]}
      users:
        superuser: {password: bookworm-superuser-4Tg8pLw2}
        replication: {password: bookworm-replication-9Xs3bKv7}
        rewind: {password: bookworm-rewind-2Mh6cQz8}
        pgbouncer_auth: {password: bookworm-pgbouncer-7Rn5fJd3}
        rest_api: {password: bookworm-rest-api-Qx4mT7vLp2}
        haproxy_stats: {password: bookworm-haproxy-stats-Hn3wK8cZ}
        etcd: {password: bookworm-etcd-login-Lk5vR9qT}
      roles:
        app: {password: bookworm-app-password-6Ye2wVu9}
      databases:
        app:
          owner: app
          extensions: [pg_stat_statements]
      pgbackrest:
        enabled: true
