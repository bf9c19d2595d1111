include:
  - keepalived.package
  - keepalived.config
  - keepalived.service
