package testenv

var ListensOn = listensOn
