"""Model selection: validation folds, cross-validation, learning curves and the leaderboard across families."""
