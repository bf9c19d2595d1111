include:
  - postgresql.package
