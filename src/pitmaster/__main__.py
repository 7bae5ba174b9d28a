from pitmaster.cli import main

main()
