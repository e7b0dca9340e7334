metadata description = 'Key Vault (RBAC) for Partner Center and Stripe secrets; the app reads them through Key Vault references.'

@description('Required. Key Vault name.')
@maxLength(24)
param name string
@description('Required. Region.')
param location string
@description('Optional. Tags.')
param tags object = {}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: { family: 'A', name: 'standard' }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    enablePurgeProtection: true
    publicNetworkAccess: 'Enabled'
  }
}

@description('Key Vault name.')
output name string = vault.name
@description('Key Vault URI.')
output uri string = vault.properties.vaultUri
