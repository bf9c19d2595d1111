include:
  - pgbouncer.package
  - pgbouncer.config
  - pgbouncer.service
