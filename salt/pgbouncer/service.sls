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
