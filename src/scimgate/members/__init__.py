"""The product side: members, their typed Properties, and teams."""
