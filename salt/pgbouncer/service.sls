include:
  - pgbouncer.config

pgbouncer-service-running:
  service.running:
    - name: pgbouncer
    - enable: True
    - reload: True
    - watch:
      - file: pgbouncer-config-ini
      - file: pgbouncer-config-auth-file
      - file: pgbouncer-config-hba-file
      {#- A renewed certificate: a reload makes new TLS sessions use it. #}
      - file: pgsalt-tls-cert
      - file: pgsalt-tls-ca
