# The demo cluster on the test bed: three hosts, each dcs + db + balancer, and a
# pgBackRest repository host; a virtual IP over the three balancers.
# Passwords here are for the bed only; use GPG-encrypted pillar for real clusters.
pgsalt:
  clusters:
    demo:
      network: 10.77.0.0/24
      members:
        pg1: {roles: [dcs, db, balancer]}
        pg2: {roles: [dcs, db, balancer]}
        pg3: {roles: [dcs, db, balancer]}
        pg4: {roles: [backup, monitor]}
      patroni:
        timing: default
        synchronous_mode: true
      users:
        superuser: {password: demo-superuser-7Hq2xLp9}
        replication: {password: demo-replication-K4vT8sWn}
        rewind: {password: demo-rewind-P3mZ6yRc}
        pgbouncer_auth: {password: demo-pgbouncer-Ju5nB2eX}
        rest_api: {password: demo-rest-api-Qx4mT7vLp2}
        haproxy_stats: {password: demo-haproxy-stats-Hn3wK8cZ}
        etcd: {password: demo-etcd-login-Zp6yN2wQ}
      roles:
        app: {password: demo-app-password-W8fD3kQs}
      databases:
        app:
          owner: app
          extensions: [pg_stat_statements]
      # .250: the bed gives pgN .10+N and other hosts .100-.249 (tests/testbed/bed/config.py);
      # host0 is each host's link to the bed's bridge (systemd-nspawn --network-bridge).
      vip:
        address: 10.77.0.250
        interface: host0
        virtual_router_id: 51
        password: Vq7-pX2k
      pgbackrest:
        enabled: true
        cipher: aes-256-cbc
        passphrase: demo-repository-cipher-Vb7xQ2mT
