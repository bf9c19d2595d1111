include:
  - pgbackrest.package
  - pgbackrest.config
  - pgbackrest.service
  - pgbackrest.schedule
