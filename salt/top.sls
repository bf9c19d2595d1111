base:
  '*':
    - pgsalt
