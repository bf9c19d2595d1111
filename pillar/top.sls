base:
  '*':
    - pgsalt.mine
    - pgsalt.demo
    - pgsalt.second
    - pgsalt.bookworm
