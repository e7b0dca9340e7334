metadata description = 'The user-assigned identity the Function app uses for storage, Key Vault and App Insights.'

@description('Required. Identity name.')
param name string
@description('Required. Region.')
param location string
@description('Optional. Tags.')
param tags object = {}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

@description('Resource id of the identity.')
output id string = identity.id
@description('Client id of the identity (for AzureWebJobsStorage__clientId and friends).')
output clientId string = identity.properties.clientId
@description('Principal (object) id of the identity, for role assignments.')
output principalId string = identity.properties.principalId
