from rchain.cli import main

main()
