base:
  '*':
    - pgsalt.mine
    - pgsalt.demo
    - pgsalt.second
