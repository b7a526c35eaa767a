"""Partner games' postbacks: a level completed, recorded once, coins on milestones (seed 004); and the reward app's
sync of them."""
