from vaezip.cli import main

main()
